-- What each customer has bought, returns left out.
select
    c.customer_id,
    c.name,
    c.country,
    count(o.order_id) as orders,
    coalesce(sum(o.amount), 0) as lifetime_value
from {{ ref('customers') }} as c
left join {{ ref('orders') }} as o on o.customer_id = c.customer_id and not o.is_returned
group by 1, 2, 3
