-- The raw orders, typed and named as silver uses them (a view: always current).
{{ config(materialized='view') }}
select
    order_id,
    customer_id,
    ordered_at,
    lower(status) as status,
    amount
from {{ ref('raw_orders') }}
