// Synapse workspace for its built-in serverless SQL pool only (no dedicated pool, no
// Spark pool): data scientists query gold through views over the Delta folders
// (lakehouse/serving/synapse/). Entra-only authentication, so there is no SQL admin
// password to keep anywhere.

@description('Workspace name (globally unique, lower-case letters, digits and hyphens).')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('The lake storage account: the workspace\'s default ADLS Gen2 account.')
param lakeStorageName string

@description('The lake container: the workspace\'s default file system.')
param lakeContainerName string

@description('Entra admin of the serverless SQL endpoint: display name of the user or group.')
param entraAdminLogin string

@description('Entra admin of the serverless SQL endpoint: object id of the user or group; also the workspace\'s first Synapse Administrator.')
param entraAdminObjectId string

@description('Client IP ranges allowed to the SQL endpoints: objects with name, startIpAddress, endIpAddress.')
param allowedIpRanges array

@description('Let Azure services (e.g. hosted pipeline agents publishing the views) through the firewall; Entra-only sign-in still applies.')
param allowAzureServices bool

@description('Log Analytics workspace for the serverless SQL request log.')
param logAnalyticsWorkspaceId string

var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeStorageName
}

resource workspace 'Microsoft.Synapse/workspaces@2021-06-01' = {
  // checkov:skip=CKV_AZURE_240: serverless SQL stores only view definitions; the data stays in the lake account (Microsoft-managed keys with infrastructure encryption)
  // checkov:skip=CKV_AZURE_157: data exfiltration protection needs a managed virtual network, fixed when the workspace is created; the workspace runs no Spark or pipelines, and serverless SQL reads with the caller's identity
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    defaultDataLakeStorage: {
      accountUrl: lake.properties.primaryEndpoints.dfs
      filesystem: lakeContainerName
      resourceId: lake.id
      createManagedPrivateEndpoint: false
    }
    managedResourceGroupName: '${resourceGroup().name}-${name}-managed'
    azureADOnlyAuthentication: true
    publicNetworkAccess: 'Enabled'
    trustedServiceBypassEnabled: true
    cspWorkspaceAdminProperties: {
      initialWorkspaceAdminObjectId: entraAdminObjectId
    }
  }
}

resource entraAdmin 'Microsoft.Synapse/workspaces/administrators@2021-06-01' = {
  parent: workspace
  name: 'activeDirectory'
  properties: {
    administratorType: 'ActiveDirectory'
    login: entraAdminLogin
    sid: entraAdminObjectId
    tenantId: subscription().tenantId
  }
}

resource entraOnly 'Microsoft.Synapse/workspaces/azureADOnlyAuthentications@2021-06-01' = {
  parent: workspace
  name: 'default'
  properties: {
    azureADOnlyAuthentication: true
  }
}

resource clientRanges 'Microsoft.Synapse/workspaces/firewallRules@2021-06-01' = [for ipRange in allowedIpRanges: {
  parent: workspace
  name: ipRange.name
  properties: {
    startIpAddress: ipRange.startIpAddress
    endIpAddress: ipRange.endIpAddress
  }
}]

resource azureServices 'Microsoft.Synapse/workspaces/firewallRules@2021-06-01' = if (allowAzureServices) {
  parent: workspace
  // The name and the 0.0.0.0 range are how Synapse spells "Azure services".
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

// Views that use a workspace-identity credential read through it; read is all they need.
resource workspaceReadsLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, workspace.id, storageBlobDataReader)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: workspace.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// One row per serverless query: who scanned how much (serverless bills per TB scanned).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'BuiltinSqlReqsEnded'
        enabled: true
      }
    ]
  }
}

output name string = workspace.name
output serverlessEndpoint string = workspace.properties.connectivityEndpoints.sqlOnDemand
