// The Event Hubs namespace: the Capture hub (Capture writes Avro files into the lake
// with the namespace's own managed identity) and the hub the Functions app lands.
// SAS keys are off: producers and consumers sign in with Entra identities.

@description('Namespace name (6-50 characters, globally unique).')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Throughput units (Standard tier: 1 TU = 1 MB/s or 1,000 events/s in).')
@minValue(1)
@maxValue(40)
param capacity int

@description('Auto-inflate ceiling in throughput units; 0 leaves auto-inflate off.')
@minValue(0)
@maxValue(40)
param maximumThroughputUnits int

@description('The hub with Capture.')
param captureHubName string

@description('The hub without Capture, landed by the Functions app.')
param httpHubName string

@description('The consumer group the Functions app reads the http hub with.')
param functionConsumerGroupName string

@description('Partitions per hub (fixed once created on the Standard tier).')
param partitionCount int

@description('Days events stay readable in each hub (Standard: at most 7).')
param retentionDays int

@description('Capture settings: archiveNameFormat, encoding, intervalSeconds, sizeLimitBytes, skipEmptyArchives.')
param capture object

@description('The lake storage account Capture writes to.')
param lakeStorageName string

@description('The lake container Capture writes to.')
param captureContainerName string

@description('Log Analytics workspace for operational logs.')
param logAnalyticsWorkspaceId string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeStorageName
}

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: maximumThroughputUnits > 0
    maximumThroughputUnits: maximumThroughputUnits
    zoneRedundant: true
  }
}

// Capture signs in as the namespace: its identity needs to write blobs before the hub's Capture starts.
resource captureWritesToLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, namespace.id, storageBlobDataContributor)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: namespace.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource captureHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: captureHubName
  dependsOn: [
    captureWritesToLake
  ]
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
    captureDescription: {
      enabled: true
      encoding: capture.encoding
      intervalInSeconds: capture.intervalSeconds
      sizeLimitInBytes: capture.sizeLimitBytes
      skipEmptyArchives: capture.skipEmptyArchives
      destination: {
        // Block blobs in an ADLS Gen2 account (the AzureDataLake destination is Gen1 only).
        name: 'EventHubArchive.AzureBlockBlob'
        identity: {
          type: 'SystemAssigned'
        }
        properties: {
          storageAccountResourceId: lake.id
          blobContainer: captureContainerName
          archiveNameFormat: capture.archiveNameFormat
        }
      }
    }
  }
}

resource httpHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: httpHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionDays
  }
}

resource functionConsumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: httpHub
  name: functionConsumerGroupName
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'OperationalLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = namespace.id
output name string = namespace.name
// The host producers and the Functions app connect to (no port, no scheme).
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output httpHubId string = httpHub.id
