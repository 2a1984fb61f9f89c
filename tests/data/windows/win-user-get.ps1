# remote-support:contract:win-user-get
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$r = [ordered]@{ exists = $false; enabled = $false; locked = $false; full_name = ''; description = ''; password_set = '' }
$u = Get-LocalUser -Name $name -ErrorAction SilentlyContinue
if ($u) {
    $r.exists = $true; $r.enabled = [bool]$u.Enabled; $r.full_name = [string]$u.FullName
    $r.description = [string]$u.Description
    if ($u.PasswordLastSet) { $r.password_set = $u.PasswordLastSet.ToUniversalTime().ToString('s') }
    $w = Get-CimInstance -ClassName Win32_UserAccount -Filter 'LocalAccount=True' | Where-Object { $_.Name -eq $name }
    $r.locked = [bool]($w -and $w.Lockout)
}
$r | ConvertTo-Json -Compress
