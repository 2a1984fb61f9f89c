# remote-support:contract:win-feature-get
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
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
$r | ConvertTo-Json -Compress
