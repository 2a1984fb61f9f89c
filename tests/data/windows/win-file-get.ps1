# remote-support:contract:win-file-get
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$r = [ordered]@{ path = $path; state = 'absent'; size = 0; parent = [IO.Directory]::Exists([IO.Path]::GetDirectoryName($path)) }
if ([IO.Directory]::Exists($path)) { $r.state = 'directory' }
elseif ([IO.File]::Exists($path)) { $r.state = 'file'; $r.size = (Get-Item -LiteralPath $path -Force).Length }
$r | ConvertTo-Json -Compress
