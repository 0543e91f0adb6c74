-- An aggregate reflection on silver.orders (dbt-quarry's `reflection` materialization):
-- queries that group orders by status or month are answered from it.
{{ config(materialized='reflection', anchor='orders', reflection_type='aggregate',
          dimensions=['status', 'ordered_at BY MONTH'],
          measures={'amount': ['SUM', 'COUNT']}) }}
-- depends_on: {{ ref('orders') }}
