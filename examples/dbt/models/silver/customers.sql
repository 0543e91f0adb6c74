-- Customers, replaced by key on each run (delete+insert).
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='customer_id') }}
select customer_id, name, upper(country) as country, signed_up
from {{ ref('raw_customers') }}
