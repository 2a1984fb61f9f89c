# remote-support:contract:win-file-set
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if ($state -eq 'absent') {
    if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Recurse -Force }
} elseif ($state -eq 'directory') {
    New-Item -ItemType Directory -Path $path -Force | Out-Null
} elseif ($state -eq 'touch') {
    if (-not [IO.File]::Exists($path)) { New-Item -ItemType File -Path $path | Out-Null }
}

$r = [ordered]@{ path = $path; state = 'absent'; size = 0; parent = [IO.Directory]::Exists([IO.Path]::GetDirectoryName($path)) }
if ([IO.Directory]::Exists($path)) { $r.state = 'directory' }
elseif ([IO.File]::Exists($path)) { $r.state = 'file'; $r.size = (Get-Item -LiteralPath $path -Force).Length }
$r | ConvertTo-Json -Compress
