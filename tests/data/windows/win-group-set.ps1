# remote-support:contract:win-group-set
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$g = Get-LocalGroup -Name $name -ErrorAction SilentlyContinue
if ($state -eq 'absent') {
    if ($g) { Remove-LocalGroup -Name $name }
} else {
    if (-not $g) { New-LocalGroup -Name $name | Out-Null }
    if ($null -ne $description) { Set-LocalGroup -Name $name -Description $description }
    foreach ($m in @($add)) { if ($m) { Add-LocalGroupMember -Name $name -Member $m } }
    foreach ($m in @($remove)) { if ($m) { Remove-LocalGroupMember -Name $name -Member $m } }
}

$r = [ordered]@{ exists = $false; description = ''; members = @() }
$g = Get-LocalGroup -Name $name -ErrorAction SilentlyContinue
if ($g) {
    $r.exists = $true; $r.description = [string]$g.Description
    $r.members = @(Get-LocalGroupMember -Name $name | ForEach-Object { $_.Name })
}
$r | ConvertTo-Json -Compress
