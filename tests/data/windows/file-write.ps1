# remote-support:contract:file-write
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$dir = [IO.Path]::GetDirectoryName($path)
$tmp = [IO.Path]::Combine($dir, '.' + [IO.Path]::GetFileName($path) + '.rs-' + [Guid]::NewGuid().ToString('N').Substring(0, 8))
$saved = ''
$out = [IO.File]::Open($tmp, 'CreateNew', 'Write', 'None')
try {
    while ($null -ne ($line = [Console]::In.ReadLine())) {
        if ($line) { $bytes = [Convert]::FromBase64String($line); $out.Write($bytes, 0, $bytes.Length) }
    }
} finally { $out.Dispose() }
try {
    $hash = (Get-FileHash -LiteralPath $tmp -Algorithm SHA256).Hash
    if ($hash -ne $sha256) { throw "the content arrived incomplete (SHA-256 $hash, expected $sha256)" }
    if ([IO.File]::Exists($path)) {
        if ($backup) {
            $saved = $path + '.' + (Get-Date -Format 'yyyy-MM-dd@HH.mm.ss') + '~'
            Copy-Item -LiteralPath $path -Destination $saved
        }
        [IO.File]::Replace($tmp, $path, $null)
    } else {
        [IO.File]::Move($tmp, $path)
    }
} finally {
    if ([IO.File]::Exists($tmp)) { Remove-Item -LiteralPath $tmp -Force }
}
[ordered]@{ sha256 = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash; backup = $saved } | ConvertTo-Json -Compress
