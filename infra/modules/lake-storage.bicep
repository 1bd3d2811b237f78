// The lake's storage account: ADLS Gen2 (hierarchical namespace) holding the Capture
// files, their quarantine, the Delta lake and the Functions app's state. Reached by
// identity only: shared keys are off, so no connection string can leak.

@description('Storage account name (3-24 lower-case letters and digits, globally unique).')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Replication: Standard_LRS for dev, Standard_ZRS or Standard_GZRS where losing a zone or region must not lose bronze.')
param skuName string

@description('The blob containers to create (names from lakehouse/azure_names.json).')
param containerNames array

@description('Days a deleted blob or container can be restored.')
@minValue(1)
@maxValue(365)
param softDeleteDays int

@description('Resource ids let through the firewall by identity when defaultAction is Deny (the Databricks access connector, the Synapse workspace).')
param trustedResourceIds array

@description('Allow or Deny: the default network rule for callers outside trusted services and the resource rules.')
@allowed([
  'Allow'
  'Deny'
])
param networkDefaultAction string

@description('Log Analytics workspace for write and delete audit logs.')
param logAnalyticsWorkspaceId string

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Flex Consumption app (no VNet integration) and Databricks classic compute reach the lake from public IPs that are not fixed; access is by Entra identity only (shared keys off), and the bypass and resource rules are ready for networkDefaultAction=Deny once both run in VNets
  // checkov:skip=CKV_AZURE_59: public network access, for the reason of CKV_AZURE_35; anonymous blob access is off (allowBlobPublicAccess: false)
  // checkov:skip=CKV_AZURE_206: replication is the skuName parameter (Standard_ZRS in staging, Standard_GZRS in prod, Standard_LRS in dev); checkov sees the parameter, not the value
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    isHnsEnabled: true
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: networkDefaultAction
      // Event Hubs Capture with a managed identity comes in as a trusted service.
      bypass: 'AzureServices'
      resourceAccessRules: [for id in trustedResourceIds: {
        tenantId: subscription().tenantId
        resourceId: id
      }]
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: lake
  name: 'default'
  properties: {
    // A Delta vacuum or a wrong `rm` can be undone for a while; bronze Capture files are the only copy.
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containerNames: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

// Writes and deletes only: reads (every bronze, silver and gold scan) would cost more than they tell.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

output id string = lake.id
output name string = lake.name
output blobEndpoint string = lake.properties.primaryEndpoints.blob
output dfsEndpoint string = lake.properties.primaryEndpoints.dfs
