-- Revenue per month and country, returns left out.
select
    date_trunc('month', o.ordered_at) as month,
    c.country,
    count(*) as orders,
    sum(o.amount) as revenue
from {{ ref('orders') }} as o
join {{ ref('customers') }} as c on c.customer_id = o.customer_id
where not o.is_returned
group by 1, 2
