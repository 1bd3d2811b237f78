// The telemetry lakehouse on Azure, one resource group per environment:
//
//   az deployment group create --resource-group <rg> \
//     --template-file infra/main.bicep --parameters infra/params/<env>.parameters.json
//
// Every name another part of the project also uses (hubs, consumer group, containers,
// Capture file layout, Functions settings, Key Vault secret, Cosmos DB database and
// containers) comes from lakehouse/azure_names.json, never from a literal here:
// tests/python/test_azure_names.py holds the templates, the Python code and the dbt
// project to that one file. Connections are identity-based throughout: no account
// key, SAS, connection-string secret or password is created, output or passed.

targetScope = 'resourceGroup'

@description('The environment this deployment is.')
@allowed([
  'dev'
  'staging'
  'prod'
])
param environmentName string

@description('Azure region of every resource (one that offers Flex Consumption, Synapse and Databricks, e.g. westeurope).')
param location string = resourceGroup().location

@description('Name prefix of every resource: 2-8 lower-case letters and digits (storage account names allow nothing else).')
@minLength(2)
@maxLength(8)
param namePrefix string

@description('Tags added to every resource.')
param tags object = {}

@description('Event Hubs throughput units (Standard).')
@minValue(1)
@maxValue(40)
param eventHubsCapacity int

@description('Event Hubs auto-inflate ceiling in throughput units; 0 turns auto-inflate off.')
@minValue(0)
@maxValue(40)
param eventHubsMaxThroughputUnits int

@description('Lake storage replication (Standard_LRS, Standard_ZRS, Standard_GZRS, ...).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param lakeStorageSku string

@description('Default network rule of the lake account: Allow (identity-only access from anywhere) until the Functions app and Databricks run in VNets; then Deny.')
@allowed([
  'Allow'
  'Deny'
])
param lakeNetworkDefaultAction string = 'Allow'

@description('Days deleted blobs and containers in the lake can be restored.')
@minValue(1)
@maxValue(365)
param lakeSoftDeleteDays int

@description('Most instances the Functions app scales out to.')
@minValue(1)
@maxValue(1000)
param functionMaximumInstanceCount int

@description('Memory per Functions instance in MB.')
@allowed([
  2048
  4096
])
param functionInstanceMemoryMB int = 2048

@description('Cosmos DB autoscale ceiling in RU/s for the database (shared by its containers); 0 deploys a serverless account.')
@minValue(0)
param cosmosAutoscaleMaxThroughput int

@description('Spread Cosmos DB replicas over availability zones.')
param cosmosZoneRedundant bool

@description('Days Log Analytics keeps logs and metrics.')
@minValue(30)
@maxValue(730)
param logRetentionDays int

@description('Daily Log Analytics ingestion cap in GB; -1 for none.')
param logDailyQuotaGb int

@description('Email address the alerts go to.')
param alertEmail string

@description('Whether the alert rules are on.')
param alertsEnabled bool = true

@description('Alert when gold\'s newest event is older than this many seconds (lakehouse.freshness_lag_seconds).')
@minValue(60)
param freshnessLagThresholdSeconds int

@description('Alert when over this percentage of an hour\'s landed records were quarantined.')
@minValue(0)
@maxValue(100)
param quarantineRatePercentThreshold int

@description('Alert when the runner reported no cycle for this many minutes.')
@minValue(10)
param runnerSilenceMinutes int = 30

@description('The third-party HTTP source the Functions app polls (its token goes to Key Vault, not here).')
param httpSourceUrl string

@description('NCRONTAB schedule of the HTTP poll (six fields, with seconds); empty for the default in lakehouse/azure_names.json.')
param httpPollSchedule string = ''

@description('Display name of the Entra user or group that administers Synapse serverless SQL.')
param synapseAdminLogin string

@description('Object id of that Entra user or group.')
param synapseAdminObjectId string

@description('Client IP ranges allowed to Synapse SQL: [{name, startIpAddress, endIpAddress}].')
param synapseAllowedIpRanges array = []

@description('Let Azure services (hosted pipeline agents publishing the views) reach Synapse SQL; sign-in is Entra-only either way.')
param synapseAllowAzureServices bool = true

@description('Entra object ids of the data scientists (users or groups): read access to the lake for Synapse serverless queries.')
param dataScientistPrincipalIds array = []

@description('Entra object ids of the deployers (users, groups, the pipeline\'s service principal): may set the Key Vault secret.')
param deployerPrincipalIds array = []

@description('Entra object ids that run the Cosmos DB sync besides the Databricks access connector (the jobs\' run-as service principal).')
param cosmosSyncPrincipalIds array = []

var names = loadJsonContent('../lakehouse/azure_names.json')

var envShorts = {
  dev: 'dev'
  staging: 'stg'
  prod: 'prd'
}
var envShort = envShorts[environmentName]
var baseName = '${namePrefix}-${envShort}'
// Global names need a suffix that is stable for the resource group and unlikely to be taken.
var suffix = take(uniqueString(subscription().id, resourceGroup().id), 6)
var allTags = union(tags, {
  application: 'telemetry-lakehouse'
  environment: environmentName
})

var lakeStorageName = toLower('${namePrefix}${envShort}adls${suffix}')
var hostStorageName = toLower('${namePrefix}${envShort}func${suffix}')
var databricksName = '${baseName}-dbw'
var accessConnectorName = '${databricksName}-connector'
var synapseName = '${baseName}-syn-${suffix}'
var containers = names.storage.containers
var settingNames = names.function_app.settings

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    baseName: baseName
    location: location
    tags: allTags
    retentionDays: logRetentionDays
    dailyQuotaGb: logDailyQuotaGb
    alertEmail: alertEmail
    alertsEnabled: alertsEnabled
    freshnessLagThresholdSeconds: freshnessLagThresholdSeconds
    quarantineRatePercentThreshold: quarantineRatePercentThreshold
    silenceMinutes: runnerSilenceMinutes
    landerFunctionName: names.function_app.lander_function
    hubRetentionDays: names.event_hubs.retention_days
  }
}

module lake 'modules/lake-storage.bicep' = {
  name: 'lake-storage'
  params: {
    name: lakeStorageName
    location: location
    tags: allTags
    skuName: lakeStorageSku
    containerNames: [
      containers.lake
      containers.quarantine
      containers.function_state
    ]
    softDeleteDays: lakeSoftDeleteDays
    networkDefaultAction: lakeNetworkDefaultAction
    // Known before they exist, so the rules need not wait for the resources.
    trustedResourceIds: [
      resourceId('Microsoft.Databricks/accessConnectors', accessConnectorName)
      resourceId('Microsoft.Synapse/workspaces', synapseName)
    ]
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

module eventHubs 'modules/event-hubs.bicep' = {
  name: 'event-hubs'
  params: {
    name: '${baseName}-evhns-${suffix}'
    location: location
    tags: allTags
    capacity: eventHubsCapacity
    maximumThroughputUnits: eventHubsMaxThroughputUnits
    captureHubName: names.event_hubs.capture_hub
    httpHubName: names.event_hubs.http_hub
    functionConsumerGroupName: names.event_hubs.function_consumer_group
    partitionCount: names.event_hubs.partitions
    retentionDays: names.event_hubs.retention_days
    capture: {
      // Under the lake root's capture folder, where bronze reads Capture files.
      archiveNameFormat: '${names.capture.folder}/${names.capture.archive_name_format}'
      encoding: names.capture.encoding
      intervalSeconds: names.capture.interval_seconds
      sizeLimitBytes: names.capture.size_limit_bytes
      skipEmptyArchives: names.capture.skip_empty_archives
    }
    lakeStorageName: lake.outputs.name
    captureContainerName: containers.lake
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    name: '${baseName}-kv-${suffix}'
    location: location
    tags: allTags
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    name: '${baseName}-func-${suffix}'
    location: location
    tags: allTags
    hostStorageName: hostStorageName
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    pythonVersion: '3.11'
    appInsightsName: monitoring.outputs.appInsightsName
    // Identity-based connections: a `<prefix>__fullyQualifiedNamespace` or
    // `<prefix>__blobServiceUri` setting makes the Functions runtime and the Azure SDK
    // sign in with the app's managed identity, so no connection string exists.
    appSettings: [
      {
        name: '${settingNames.eventhub_connection}__fullyQualifiedNamespace'
        value: eventHubs.outputs.fullyQualifiedNamespace
      }
      {
        name: '${settingNames.storage_connection}__blobServiceUri'
        value: lake.outputs.blobEndpoint
      }
      {
        name: settingNames.http_url
        value: httpSourceUrl
      }
      {
        // Resolved by the platform with the app's identity; the value never passes through a deployment.
        name: settingNames.http_token
        value: '@Microsoft.KeyVault(VaultName=${keyVault.outputs.name};SecretName=${names.key_vault.http_token_secret})'
      }
      {
        name: settingNames.http_schedule
        value: empty(httpPollSchedule) ? names.function_app.default_schedule : httpPollSchedule
      }
      {
        name: settingNames.capture_namespace
        value: eventHubs.outputs.name
      }
    ]
  }
}

module access 'modules/access.bicep' = {
  name: 'access'
  params: {
    functionPrincipalId: functionApp.outputs.principalId
    lakeStorageName: lake.outputs.name
    eventHubsNamespaceName: eventHubs.outputs.name
    httpHubName: names.event_hubs.http_hub
    keyVaultName: keyVault.outputs.name
    dataScientistPrincipalIds: dataScientistPrincipalIds
    deployerPrincipalIds: deployerPrincipalIds
  }
}

module databricks 'modules/databricks.bicep' = {
  name: 'databricks'
  params: {
    name: databricksName
    location: location
    tags: allTags
    lakeStorageName: lake.outputs.name
  }
}

module synapse 'modules/synapse.bicep' = {
  name: 'synapse'
  params: {
    name: synapseName
    location: location
    tags: allTags
    lakeStorageName: lake.outputs.name
    lakeContainerName: containers.lake
    entraAdminLogin: synapseAdminLogin
    entraAdminObjectId: synapseAdminObjectId
    allowedIpRanges: synapseAllowedIpRanges
    allowAzureServices: synapseAllowAzureServices
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: '${baseName}-cosmos-${suffix}'
    location: location
    tags: allTags
    databaseName: names.cosmos.database
    containers: names.cosmos.containers
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    zoneRedundant: cosmosZoneRedundant
    dataContributorPrincipalIds: concat([
      databricks.outputs.accessConnectorPrincipalId
    ], cosmosSyncPrincipalIds)
    logAnalyticsWorkspaceId: monitoring.outputs.workspaceId
  }
}

var lakeDfsHost = '${lake.outputs.name}.dfs.${environment().suffixes.storage}'

@description('The Functions app to publish azure_functions/ to.')
output functionAppName string = functionApp.outputs.name

@description('The lake storage account (ADLS Gen2).')
output storageAccountName string = lake.outputs.name

@description('The Functions host\'s own storage account.')
output functionHostStorageAccountName string = functionApp.outputs.hostStorageName

@description('The lake root: the Databricks bundle\'s lake_url and LAKEHOUSE_ROOT.')
output lakeUrl string = 'abfss://${containers.lake}@${lakeDfsHost}'

@description('SYNAPSE_DATA_SOURCE_LOCATION for `lakehouse serve synapse-views --publish`.')
output synapseDataSourceLocation string = 'https://${lakeDfsHost}/${containers.lake}'

@description('The Event Hubs namespace (CAPTURE_NAMESPACE, and {Namespace} in Capture paths).')
output eventHubsNamespace string = eventHubs.outputs.name

@description('Where producers connect (EVENTHUB__fullyQualifiedNamespace).')
output eventHubsFullyQualifiedNamespace string = eventHubs.outputs.fullyQualifiedNamespace

@description('COSMOS_ENDPOINT of the sync.')
output cosmosEndpoint string = cosmos.outputs.endpoint

@description('The Cosmos DB account.')
output cosmosAccountName string = cosmos.outputs.name

@description('DATABRICKS_HOST for `databricks bundle deploy`.')
output databricksWorkspaceUrl string = databricks.outputs.workspaceUrl

@description('The access connector behind the Unity Catalog storage credential.')
output databricksAccessConnectorId string = databricks.outputs.accessConnectorId

@description('The Synapse serverless SQL endpoint (SYNAPSE_SERVER).')
output synapseSqlEndpoint string = synapse.outputs.serverlessEndpoint

@description('The Synapse workspace.')
output synapseWorkspaceName string = synapse.outputs.name

@description('The Key Vault to set the HTTP source token in.')
output keyVaultName string = keyVault.outputs.name

@description('The secret to set: az keyvault secret set --vault-name <keyVaultName> --name <this> --value ...')
output httpTokenSecretName string = names.key_vault.http_token_secret

@description('Application Insights whose connection string the runner needs (APPLICATIONINSIGHTS_CONNECTION_STRING).')
output appInsightsName string = monitoring.outputs.appInsightsName
