// Cosmos DB (SQL API) for the applications: one container per synced gold model,
// written by the Cosmos sync (lakehouse/serving/cosmos/) with an Entra identity;
// keys are off (disableLocalAuth).

@description('Account name (3-44 lower-case letters, digits and hyphens, globally unique).')
param name string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('The database name.')
param databaseName string

@description('The containers: an object of container name to partition key path.')
param containers object

@description('Autoscale ceiling in RU/s shared by the database\'s containers; 0 makes a serverless account (billed per request, single region).')
param autoscaleMaxThroughput int

@description('Spread the account\'s replicas over availability zones (provisioned accounts; not offered for serverless in every region).')
param zoneRedundant bool

@description('Object ids that read and write items (the sync: the Databricks access connector, the jobs\' run-as service principal).')
param dataContributorPrincipalIds array

@description('Log Analytics workspace for the control-plane log.')
param logAnalyticsWorkspaceId string

var serverless = autoscaleMaxThroughput == 0
// Cosmos DB Built-in Data Contributor: a data-plane role, granted with sqlRoleAssignments, not Azure RBAC.
var builtInDataContributor = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  // checkov:skip=CKV_AZURE_101: the sync runs on Databricks compute without VNet injection and the applications connect from outside Azure, neither from fixed addresses; keys are off (disableLocalAuth), every caller signs in with Entra and a data-plane role
  // checkov:skip=CKV_AZURE_99: no IP or VNet filter, for the reason of CKV_AZURE_101
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: zoneRedundant
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for container in items(containers): {
  parent: database
  name: container.key
  properties: {
    resource: {
      id: container.key
      partitionKey: {
        paths: [
          container.value
        ]
        kind: 'Hash'
      }
    }
  }
}]

resource dataContributors 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [for principalId in dataContributorPrincipalIds: {
  parent: account
  name: guid(account.id, principalId, builtInDataContributor)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${builtInDataContributor}'
    principalId: principalId
    // The database only: the sync has no business in another database of the account.
    scope: '${account.id}/dbs/${databaseName}'
  }
}]

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'ControlPlaneRequests'
        enabled: true
      }
    ]
  }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
