-- Every order once, as it is now: new orders are added and changed ones updated (MERGE).
{{ config(materialized='incremental', incremental_strategy='merge', unique_key='order_id') }}
select order_id, customer_id, ordered_at, status, amount, status = 'returned' as is_returned
from {{ ref('stg_orders') }}
