// Logs and the alerts: a Log Analytics workspace, workspace-based Application
// Insights (the runner's OpenTelemetry metrics land in its customMetrics table, see
// lakehouse/operations/metrics.py; the Functions host logs each execution in its
// requests table), an action group that mails, and log alerts on those metrics and
// on the Functions lander's failed executions.

@description('Name stem for the monitoring resources.')
param baseName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object

@description('Days Log Analytics keeps data (30 is included in the price).')
@minValue(30)
@maxValue(730)
param retentionDays int

@description('Daily ingestion cap in GB (-1: none); a cap protects dev from a chatty bug.')
param dailyQuotaGb int

@description('Where alerts are mailed.')
param alertEmail string

@description('Alert when the newest event that reached gold is older than this many seconds.')
@minValue(60)
param freshnessLagThresholdSeconds int

@description('Alert when quarantined records exceed this percentage of records landed over an hour.')
@minValue(0)
@maxValue(100)
param quarantineRatePercentThreshold int

@description('Alert when no runner cycle was reported for this many minutes.')
@minValue(10)
param silenceMinutes int

@description('Whether the alert rules are enabled (off while an environment is being built).')
param alertsEnabled bool

@description('The Functions app\'s Event Hubs lander function, whose failed executions are alerted on.')
param landerFunctionName string

@description('Days the HTTP hub keeps its events: how long a batch the lander cannot land waits safely.')
param hubRetentionDays int

// The lander retries a batch until it lands (azure_functions/function_app.py, max_retry_count -1)
// and the host checkpoints only then, so a failing batch waits in the hub: its failed
// executions (every 5 min at most, once the backoff is at its maximum) spanning this many
// minutes of a window twice as long mean a partition is stuck, well inside the retention.
var landerFailingMinutes = 15

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${baseName}-log'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${baseName}-appi'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Local auth stays on: the runner's exporter (configure_azure_monitor() with the
    // connection string) does not pass an Entra credential; the connection string is
    // an ingestion address, not a read key.
    DisableLocalAuth: false
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${baseName}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take(replace(baseName, '-', ''), 12)
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Counters arrive as deltas per export interval (valueSum); the gauge as its last value (valueMax).
var alerts = [
  {
    name: 'freshness-lag'
    description: 'The newest event in gold is older than ${freshnessLagThresholdSeconds} s (lakehouse.freshness_lag_seconds).'
    severity: 2
    frequency: 'PT5M'
    window: 'PT15M'
    query: 'customMetrics | where name == "lakehouse.freshness_lag_seconds" | summarize lag_seconds = max(valueMax)'
    measure: 'lag_seconds'
    operator: 'GreaterThan'
    threshold: freshnessLagThresholdSeconds
  }
  {
    name: 'failed-cycle'
    description: 'A runner cycle failed (lakehouse.cycles with status failed).'
    severity: 1
    frequency: 'PT5M'
    window: 'PT5M'
    query: 'customMetrics | where name == "lakehouse.cycles" and tostring(customDimensions.status) == "failed" | summarize failed_cycles = sum(valueSum)'
    measure: 'failed_cycles'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'quarantine-rate'
    description: 'More than ${quarantineRatePercentThreshold}% of the records landed in the last hour were quarantined.'
    severity: 2
    frequency: 'PT15M'
    window: 'PT1H'
    query: 'customMetrics | where name in ("lakehouse.quarantined_records", "lakehouse.records_in") | summarize quarantined = sumif(valueSum, name == "lakehouse.quarantined_records"), landed = sumif(valueSum, name == "lakehouse.records_in") | extend quarantine_percent = iff(landed > 0, 100.0 * quarantined / landed, 0.0)'
    measure: 'quarantine_percent'
    operator: 'GreaterThan'
    threshold: quarantineRatePercentThreshold
  }
  {
    name: 'function-lander-failing'
    description: 'The Functions lander (${landerFunctionName}) has failed for ${landerFailingMinutes} minutes: its batches are not landed and wait in the hub, which keeps events ${hubRetentionDays} days. See the failed executions in Application Insights.'
    severity: 1
    frequency: 'PT5M'
    window: 'PT${2 * landerFailingMinutes}M'
    query: 'requests | where name == "${landerFunctionName}" and success == false | summarize failures = count(), first_failure = min(timestamp), last_failure = max(timestamp) | extend failing_minutes = iff(failures > 0, datetime_diff("minute", last_failure, first_failure), 0)'
    measure: 'failing_minutes'
    operator: 'GreaterThanOrEqual'
    threshold: landerFailingMinutes
  }
  {
    // The lag alert cannot fire when the runner is down and reports nothing.
    name: 'runner-silent'
    description: 'No runner cycle was reported for ${silenceMinutes} minutes (lakehouse.cycles).'
    severity: 1
    frequency: 'PT10M'
    window: 'PT${silenceMinutes}M'
    query: 'customMetrics | where name == "lakehouse.cycles" | summarize cycles = count()'
    measure: 'cycles'
    operator: 'LessThan'
    threshold: 1
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = [for alert in alerts: {
  name: '${baseName}-${alert.name}'
  location: location
  tags: tags
  properties: {
    displayName: '${baseName} ${alert.name}'
    description: alert.description
    severity: alert.severity
    enabled: alertsEnabled
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: alert.frequency
    windowSize: alert.window
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: alert.measure
          operator: alert.operator
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

output workspaceId string = workspace.id
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
