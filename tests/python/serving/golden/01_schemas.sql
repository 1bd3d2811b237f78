IF SCHEMA_ID(N'gold') IS NULL
BEGIN
    EXEC sp_executesql N'CREATE SCHEMA [gold]';
END
GO

IF SCHEMA_ID(N'silver') IS NULL
BEGIN
    EXEC sp_executesql N'CREATE SCHEMA [silver]';
END
GO
