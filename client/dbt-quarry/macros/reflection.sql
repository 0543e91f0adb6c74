{#-
  The `reflection` materialization: a Quarry reflection (raw or aggregate) on a table,
  made with Quarry's own DDL as dbt-dremio does for Dremio. The model names its table
  with `-- depends_on: {{ ref('t') }}` (so that dbt builds the table first) and configures:

    anchor            the model the reflection is on (required)
    reflection_type   'aggregate' (default) or 'raw'
    reflection_name   default: the model's name
    dimensions        aggregate: ['country', 'ordered_at BY MONTH', ...]
    measures          aggregate: {'amount': ['SUM', 'COUNT'], ...}
    display           raw: ['order_id', 'amount', ...]
    partition_by      ['country', ...]
    localsort_by      ['ordered_at', ...]
    refresh           'ON CHANGE', 'MANUAL' or 'EVERY 1 HOUR' (default: Quarry's)

  Each run drops the reflection and creates it again from the table as it is.
-#}
{% materialization reflection, adapter='postgres' %}
  {%- set anchor = ref(config.require('anchor')) -%}
  {%- set name = adapter.quote(config.get('reflection_name', model.name)) -%}
  {%- set kind = config.get('reflection_type', 'aggregate') | lower -%}
  {%- if kind not in ['aggregate', 'raw'] -%}
    {{ exceptions.raise_compiler_error("reflection_type must be 'aggregate' or 'raw', not '" ~ kind ~ "'") }}
  {%- endif -%}

  {{ run_hooks(pre_hooks) }}
  {% call statement('drop_reflection') -%}
    alter table {{ anchor }} drop reflection if exists {{ name }}
  {%- endcall %}
  {% call statement('main') -%}
    alter table {{ anchor }} create {{ kind }} reflection {{ name }}
    {%- if kind == 'aggregate' %}
    using dimensions ({{ config.require('dimensions') | join(', ') }})
    {%- set measures = [] -%}
    {%- for column, functions in config.require('measures').items() -%}
      {%- do measures.append(column ~ ' (' ~ (functions | join(', ')) ~ ')') -%}
    {%- endfor %}
    measures ({{ measures | join(', ') }})
    {%- else %}
    using display ({{ config.require('display') | join(', ') }})
    {%- endif -%}
    {%- if config.get('partition_by') %}
    partition by ({{ config.get('partition_by') | join(', ') }})
    {%- endif -%}
    {%- if config.get('localsort_by') %}
    localsort by ({{ config.get('localsort_by') | join(', ') }})
    {%- endif -%}
    {%- if config.get('refresh') %}
    refresh {{ config.get('refresh') }}
    {%- endif %}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}
  {{ return({'relations': []}) }}
{% endmaterialization %}
