# remote-support:contract:win-task-set
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$t = Get-ScheduledTask -TaskPath $folder -TaskName $name -ErrorAction SilentlyContinue
if ($state -eq 'absent') {
    if ($t) { Unregister-ScheduledTask -TaskPath $folder -TaskName $name -Confirm:$false }
} else {
    if ($define) {
        $action = if ($arguments) { New-ScheduledTaskAction -Execute $execute -Argument $arguments } else { New-ScheduledTaskAction -Execute $execute }
        $trig = switch ($trigger) {
            'startup' { New-ScheduledTaskTrigger -AtStartup }
            'logon' { New-ScheduledTaskTrigger -AtLogOn }
            'daily' { New-ScheduledTaskTrigger -Daily -At $at }
            'once' { New-ScheduledTaskTrigger -Once -At $at }
        }
        $principal = New-ScheduledTaskPrincipal -UserId $user -LogonType ServiceAccount -RunLevel Highest
        Register-ScheduledTask -TaskPath $folder -TaskName $name -Action $action -Trigger $trig -Principal $principal -Force | Out-Null
    }
    if ($enabled -eq $true) { Enable-ScheduledTask -TaskPath $folder -TaskName $name | Out-Null }
    if ($enabled -eq $false) { Disable-ScheduledTask -TaskPath $folder -TaskName $name | Out-Null }
    if ($run) { Start-ScheduledTask -TaskPath $folder -TaskName $name }
}

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
