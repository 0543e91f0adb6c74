{#- Models go in the schema they name (bronze, silver, gold), not in
    `<target schema>_<schema>` as dbt's default would have it. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
