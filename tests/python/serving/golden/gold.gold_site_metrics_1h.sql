CREATE OR ALTER VIEW [gold].[gold_site_metrics_1h]
AS
SELECT *
FROM OPENROWSET(
    BULK 'gold/gold_site_metrics_1h/',
    DATA_SOURCE = 'lakehouse',
    FORMAT = 'DELTA'
)
WITH (
    [metric_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [site_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [window_start] datetime2(7),
    [window_end] datetime2(7),
    [device_count] bigint,
    [event_count] bigint,
    [temperature_c_avg] float,
    [temperature_c_min] float,
    [temperature_c_max] float,
    [humidity_pct_avg] float,
    [is_final] bit
) AS [rows];
GO
