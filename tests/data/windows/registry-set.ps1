# remote-support:contract:registry-set
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
if ($state -eq 'absent') {
    if ($null -eq $name) {
        if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Recurse -Force }
    } elseif (Test-Path -LiteralPath $path) {
        Remove-ItemProperty -LiteralPath $path -Name $name -Force -ErrorAction SilentlyContinue
    }
} else {
    if (-not (Test-Path -LiteralPath $path)) { New-Item -Path $path -Force | Out-Null }
    if ($null -ne $name) {
        $value = switch ($type) {
            'DWord' { [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32][uint64]$data), 0) }
            'QWord' { [BitConverter]::ToInt64([BitConverter]::GetBytes([uint64]$data), 0) }
            'Binary' { [byte[]] -split ($data -replace '..', '0x$& ') }
            'MultiString' { [string[]]@($data) }
            default { [string]$data }
        }
        New-ItemProperty -LiteralPath $path -Name $name -PropertyType $type -Value $value -Force | Out-Null
    }
}

if ($path -match '^(HKCR|HKU|HKCC):' -and -not (Get-PSDrive -Name $Matches[1] -ErrorAction SilentlyContinue)) {
    $root = @{ HKCR = 'HKEY_CLASSES_ROOT'; HKU = 'HKEY_USERS'; HKCC = 'HKEY_CURRENT_CONFIG' }[$Matches[1]]
    New-PSDrive -Name $Matches[1] -PSProvider Registry -Root $root | Out-Null
}
$r = [ordered]@{ key = $false; exists = $false; type = ''; data = $null }
if (Test-Path -LiteralPath $path) {
    $r.key = $true
    if ($null -ne $name) {
        $k = Get-Item -LiteralPath $path
        if ($k.GetValueNames() -contains $name) {
            $r.exists = $true
            $r.type = $k.GetValueKind($name).ToString()
            $v = $k.GetValue($name, $null, 'DoNotExpandEnvironmentNames')
            if ($r.type -eq 'Binary') { $r.data = -join ($v | ForEach-Object { $_.ToString('x2') }) }
            elseif ($r.type -eq 'MultiString') { $r.data = @($v) }
            elseif ($r.type -eq 'DWord') { $r.data = [int64][BitConverter]::ToUInt32([BitConverter]::GetBytes([int32]$v), 0) }
            else { $r.data = $v }
            if ($digest) {
                # the data is a secret: answer an HMAC of it under this run's key, so the answer (which the
                # connection masks) can be compared and the data itself never comes back
                $text = if ($r.data -is [array]) { $r.data -join [char]0 } else { [string]$r.data }
                $hmac = [Security.Cryptography.HMACSHA256]::new([Text.Encoding]::UTF8.GetBytes($digest))
                $sum = $hmac.ComputeHash([Text.Encoding]::UTF8.GetBytes($text))
                $r.data = -join ($sum | ForEach-Object { $_.ToString('x2') })
            }
        }
    }
}
$r | ConvertTo-Json -Compress -Depth 3
