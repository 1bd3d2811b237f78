// Role assignments across resources, instead of keys: what the Functions app, the
// data scientists and the deployers may do on the lake, the http hub and the vault.
// (Capture's, the access connector's, Synapse's and the Cosmos DB data roles sit in
// the modules of the resources that need them, so each is in place before first use.)

@description('The Functions app\'s managed identity (object id).')
param functionPrincipalId string

@description('The lake storage account.')
param lakeStorageName string

@description('The Event Hubs namespace.')
param eventHubsNamespaceName string

@description('The hub the Functions app sends polled HTTP records to and lands from.')
param httpHubName string

@description('The Key Vault holding the HTTP source token.')
param keyVaultName string

@description('Entra object ids (users or groups) of the data scientists: read the lake (Synapse serverless reads with the caller\'s identity).')
param dataScientistPrincipalIds array

@description('Entra object ids of the deployers (users, groups or the pipeline\'s service principal): set the Key Vault secret.')
param deployerPrincipalIds array

var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: lakeStorageName
}

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: eventHubsNamespaceName
}

resource httpHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  parent: namespace
  name: httpHubName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Capture files, their quarantine and the poll cursor: the app writes to three of the lake's containers.
resource functionWritesLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, functionPrincipalId, roles.storageBlobDataContributor)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The poller sends to the http hub; the lander's trigger reads it. Scoped to that hub only.
resource functionSendsHttpHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(httpHub.id, functionPrincipalId, roles.eventHubsDataSender)
  scope: httpHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource functionReceivesHttpHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(httpHub.id, functionPrincipalId, roles.eventHubsDataReceiver)
  scope: httpHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The app setting's Key Vault reference resolves with the app's identity.
resource functionReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: functionPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource dataScientistsReadLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in dataScientistPrincipalIds: {
  name: guid(lake.id, principalId, roles.storageBlobDataReader)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: principalId
  }
}]

resource deployersSetSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in deployerPrincipalIds: {
  name: guid(vault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: principalId
  }
}]
