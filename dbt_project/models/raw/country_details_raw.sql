select
    data:cca3::string as country_code,
    data,
    source_file,
    source_file_row,
    loaded_at,
    '{{ var("load_id") or env_var("PIPELINE_LOAD_ID", "") or invocation_id }}' as load_id,
    current_timestamp() as insert_dts
from {{ source('load', 'countries_copy') }}
