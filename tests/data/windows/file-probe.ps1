# remote-support:contract:file-probe
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$r = [ordered]@{ path = $path; state = 'absent'; size = 0; sha256 = ''; text = $null }
$dir = [IO.Path]::GetDirectoryName($path)
if ([IO.Directory]::Exists($path)) { $r.state = 'dir' }
elseif ($dir -and -not [IO.Directory]::Exists($dir)) { $r.state = 'nodir' }
elseif ([IO.File]::Exists($path)) {
    $r.state = 'file'
    $r.size = (Get-Item -LiteralPath $path -Force).Length
    $r.sha256 = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash
    if ($want_text -and $r.sha256 -ne $sha256 -and $r.size -le $limit) {
        $r.text = [Convert]::ToBase64String([IO.File]::ReadAllBytes($path))
    }
}
$r | ConvertTo-Json -Compress
