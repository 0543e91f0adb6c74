-- Each customer's history: a new row whenever the name or country changes.
{% snapshot customers_snapshot %}
{{ config(unique_key='customer_id', strategy='check', check_cols=['name', 'country']) }}
select * from {{ ref('raw_customers') }}
{% endsnapshot %}
