-- Shipped orders with their customer (a view over silver).
{{ config(materialized='view') }}
select o.order_id, o.ordered_at, o.amount, c.name, c.country
from {{ ref('orders') }} as o
join {{ ref('customers') }} as c on c.customer_id = o.customer_id
where o.status = 'shipped'
