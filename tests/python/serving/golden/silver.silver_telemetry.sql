CREATE OR ALTER VIEW [silver].[silver_telemetry]
AS
SELECT *
FROM OPENROWSET(
    BULK 'silver/silver_telemetry/',
    DATA_SOURCE = 'lakehouse',
    FORMAT = 'DELTA'
)
WITH (
    [event_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [device_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [site_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [event_time] datetime2(7),
    [temperature_c] float,
    [humidity_pct] float,
    [pressure_hpa] float,
    [battery_pct] float,
    [status] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [schema_version] int,
    [extra_fields] varchar(max) COLLATE Latin1_General_100_BIN2_UTF8,
    [namespace] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [event_hub] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [partition_id] int,
    [sequence_number] bigint,
    [enqueued_at] datetime2(7),
    [capture_record_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [loaded_at] datetime2(7)
) AS [rows];
GO
