CREATE OR ALTER VIEW [silver].[silver_telemetry_quarantine]
AS
SELECT *
FROM OPENROWSET(
    BULK 'silver/silver_telemetry_quarantine/',
    DATA_SOURCE = 'lakehouse',
    FORMAT = 'DELTA'
)
WITH (
    [capture_record_id] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [reason] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [raw_body] varchar(max) COLLATE Latin1_General_100_BIN2_UTF8,
    [body_encoding] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [namespace] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [event_hub] varchar(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [partition_id] int,
    [sequence_number] bigint,
    [enqueued_at] datetime2(7),
    [quarantined_at] datetime2(7)
) AS [rows];
GO
