# remote-support:contract:win-feature-set
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$restart = $false
if ($kind -eq 'feature') {
    $x = if ($state -eq 'present') { Install-WindowsFeature -Name $name -IncludeManagementTools } else { Uninstall-WindowsFeature -Name $name }
    $restart = [string]$x.RestartNeeded -eq 'Yes'
} elseif ($kind -eq 'optional') {
    $x = if ($state -eq 'present') { Enable-WindowsOptionalFeature -Online -FeatureName $name -All -NoRestart } else { Disable-WindowsOptionalFeature -Online -FeatureName $name -NoRestart }
    $restart = [bool]$x.RestartNeeded
} else {
    $x = if ($state -eq 'present') { Add-WindowsCapability -Online -Name $name } else { Remove-WindowsCapability -Online -Name $name }
    $restart = [bool]$x.RestartNeeded
}

$r = [ordered]@{ known = $false; installed = $false; state = ''; reboot_required = $false }
if ($kind -eq 'feature') {
    $f = Get-WindowsFeature -Name $name -ErrorAction SilentlyContinue
    if ($f) { $r.known = $true; $r.installed = [bool]$f.Installed; $r.state = [string]$f.InstallState }
} elseif ($kind -eq 'optional') {
    $f = Get-WindowsOptionalFeature -Online -FeatureName $name -ErrorAction SilentlyContinue
    if ($f) { $r.known = $true; $r.installed = [string]$f.State -eq 'Enabled'; $r.state = [string]$f.State }
} else {
    $f = Get-WindowsCapability -Online -Name $name -ErrorAction SilentlyContinue
    if ($f -and $f.State) { $r.known = $true; $r.installed = [string]$f.State -eq 'Installed'; $r.state = [string]$f.State }
}
$r.state = $r.state.ToString()
$r.reboot_required = $restart
$r | ConvertTo-Json -Compress
