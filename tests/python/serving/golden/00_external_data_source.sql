IF NOT EXISTS (SELECT 1 FROM sys.external_data_sources WHERE name = N'lakehouse')
BEGIN
    CREATE EXTERNAL DATA SOURCE [lakehouse] WITH (LOCATION = N'https://lakehouseacct.dfs.core.windows.net/lake');
END
GO
