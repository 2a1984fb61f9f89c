# remote-support:contract:win-group-get
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$r = [ordered]@{ exists = $false; description = ''; members = @() }
$g = Get-LocalGroup -Name $name -ErrorAction SilentlyContinue
if ($g) {
    $r.exists = $true; $r.description = [string]$g.Description
    $r.members = @(Get-LocalGroupMember -Name $name | ForEach-Object { $_.Name })
}
$r | ConvertTo-Json -Compress
