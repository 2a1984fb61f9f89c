# remote-support:contract:win-wait-probe
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$r = [ordered]@{ ready = $false }
if ($kind -eq 'path') {
    $r.ready = [bool](Test-Path -LiteralPath $path)
} else {
    $c = New-Object Net.Sockets.TcpClient
    try { $r.ready = $c.ConnectAsync($target, [int]$port).Wait([int]$wait_ms) -and $c.Connected }
    catch { $r.ready = $false }
    finally { $c.Dispose() }
}
$r | ConvertTo-Json -Compress
