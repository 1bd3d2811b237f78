// The Databricks workspace (Premium: Unity Catalog) and its access connector, whose
// managed identity is the Unity Catalog storage credential behind the lake's external
// location (databricks.yml, docs/databricks.md): no storage key or SAS anywhere.

@description('Workspace name.')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('The lake storage account the access connector reads and writes.')
param lakeStorageName string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeStorageName
}

resource workspace 'Microsoft.Databricks/workspaces@2024-05-01' = {
  // checkov:skip=CKV2_AZURE_48: the lake's tables are external (in the lake account), not in DBFS; the DBFS root holds only workspace scratch
  // checkov:skip=CKV_AZURE_158: Private Link needs VNet injection, a follow-up with the rest of the private networking; secure cluster connectivity (no public IP) is on
  name: name
  location: location
  tags: tags
  sku: {
    name: 'premium'
  }
  properties: {
    // Databricks owns this group (cluster VMs, its VNet and storage); it must not exist beforehand.
    managedResourceGroupId: subscriptionResourceId('Microsoft.Resources/resourceGroups', '${resourceGroup().name}-${name}-managed')
    publicNetworkAccess: 'Enabled'
    parameters: {
      // Secure cluster connectivity: cluster nodes get no public IP.
      enableNoPublicIp: {
        value: true
      }
    }
  }
}

resource accessConnector 'Microsoft.Databricks/accessConnectors@2024-05-01' = {
  name: '${name}-connector'
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {}
}

resource connectorUsesLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, accessConnector.id, storageBlobDataContributor)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: accessConnector.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output workspaceUrl string = 'https://${workspace.properties.workspaceUrl}'
output workspaceId string = workspace.id
output accessConnectorId string = accessConnector.id
output accessConnectorPrincipalId string = accessConnector.identity.principalId
