# remote-support:contract:win-task-get
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$r = [ordered]@{ exists = $false; enabled = $false; state = ''; execute = ''; arguments = ''; trigger = ''; at = ''; user = '' }
$t = Get-ScheduledTask -TaskPath $folder -TaskName $name -ErrorAction SilentlyContinue
if ($t) {
    $r.exists = $true; $r.state = [string]$t.State; $r.enabled = $t.State -ne 'Disabled'
    $a = @($t.Actions)[0]
    if ($a) { $r.execute = [string]$a.Execute; $r.arguments = [string]$a.Arguments }
    $g = @($t.Triggers)[0]
    if ($g) {
        $r.trigger = @{ MSFT_TaskBootTrigger = 'startup'; MSFT_TaskLogonTrigger = 'logon'; MSFT_TaskDailyTrigger = 'daily'; MSFT_TaskTimeTrigger = 'once' }[$g.CimClass.CimClassName]
        if ($g.StartBoundary) { $r.at = ([datetime]$g.StartBoundary).ToString('HH:mm') }
    }
    $r.user = [string]$t.Principal.UserId
}
$r | ConvertTo-Json -Compress
