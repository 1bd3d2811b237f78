// The Functions app (azure_functions/: the HTTP source poller on a timer, and the lander of
// the hub without Capture) on the Flex Consumption plan, with its own small host
// storage account. Flex Consumption because it is the plan Microsoft recommends for
// new serverless apps (Linux Consumption takes no new features), it scales to zero,
// and it is the serverless plan whose host storage, deployment package and trigger
// connections all work with a managed identity and shared keys turned off.

@description('Function app name (globally unique: <name>.azurewebsites.net).')
param name string

@description('Azure region (Flex Consumption is offered in a subset of regions).')
param location string

@description('Tags for every resource.')
param tags object

@description('The host storage account name (3-24 lower-case letters and digits): the runtime\'s leases, Event Hubs checkpoints and the deployment package.')
param hostStorageName string

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory per instance in MB (2048 or 4096).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int

@description('Python version of the app (azure_functions/ targets 3.11).')
param pythonVersion string

@description('The app\'s own settings (identity-based connections, Key Vault references), as name/value pairs.')
param appSettings array

@description('Application Insights the Functions host reports to.')
param appInsightsName string

var deploymentContainerName = 'app-package'
// The Functions host's identity on its own storage: blobs (leases, checkpoints, the
// package), queues and tables (runtime internals), as Microsoft's Flex templates grant.
var hostStorageRoles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Functions host reaches its storage over the public endpoint (no VNet integration), and the Functions runtime is not a trusted service; access is by the app's identity only (shared keys off)
  // checkov:skip=CKV_AZURE_59: public network access, for the reason of CKV_AZURE_35; anonymous blob access is off
  // checkov:skip=CKV_AZURE_206: geo-replication would copy only the runtime's leases, checkpoints and the app package, all rebuilt by a redeploy; zone-redundant (ZRS) covers a zone outage
  // checkov:skip=CKV_AZURE_43: checkov matches the parameter's identifier (hostStorageName), not its value; main.bicep builds the name from lower-case letters and digits within 24 characters
  name: hostStorageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // Zone-redundant for a few cents: the leases and checkpoints survive a zone outage.
    name: 'Standard_ZRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
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

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobs
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is not offered in every region; the poll and the lander tolerate a zone outage: the hub keeps events for days and the lander resumes from its checkpoint
  name: '${name}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: deployments reach the app's SCM endpoint from hosted pipeline agents (Entra sign-in only, basic publishing credentials off); the app has no HTTP-triggered function to expose
  // checkov:skip=CKV_AZURE_17: client certificates guard inbound HTTP calls; the app has no HTTP-triggered function (a timer and an Event Hubs trigger)
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales each trigger from zero; there is no instance count to keep for failover
  // checkov:skip=CKV_AZURE_213: a health check pings an HTTP path; the app serves none (timer and Event Hubs triggers only)
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Flex Consumption takes the runtime from functionAppConfig and rejects
      // FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION settings.
      appSettings: concat([
        {
          name: 'AzureWebJobsStorage__accountName'
          value: hostStorage.name
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
      ], appSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Deployments sign in with Entra (az functionapp deployment / func publish), never with publishing passwords.
resource noFtpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource noScmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

resource hostStorageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in hostStorageRoles: {
  name: guid(hostStorage.id, app.id, role)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = app.name
output principalId string = app.identity.principalId
output hostStorageName string = hostStorage.name
