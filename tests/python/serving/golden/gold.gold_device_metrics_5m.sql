CREATE OR ALTER VIEW [gold].[gold_device_metrics_5m]
AS
SELECT *
FROM OPENROWSET(
    BULK 'gold/gold_device_metrics_5m/',
    DATA_SOURCE = 'lakehouse',
    FORMAT = 'DELTA'
)
WITH (
    [metric_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [device_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [site_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [window_start] datetime2(7),
    [window_end] datetime2(7),
    [event_count] bigint,
    [temperature_c_avg] float,
    [temperature_c_min] float,
    [temperature_c_max] float,
    [humidity_pct_avg] float,
    [pressure_hpa_avg] float,
    [battery_pct_min] float,
    [last_event_time] datetime2(7),
    [is_final] bit
) AS [rows];
GO
