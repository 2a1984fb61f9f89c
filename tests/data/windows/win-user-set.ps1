# remote-support:contract:win-user-set
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$password = [Console]::In.ReadLine()
$secure = $null
if ($password) { $secure = ConvertTo-SecureString -String $password -AsPlainText -Force }
$u = Get-LocalUser -Name $name -ErrorAction SilentlyContinue
if ($state -eq 'absent') {
    if ($u) { Remove-LocalUser -Name $name }
} else {
    if (-not $u) {
        if ($secure) { New-LocalUser -Name $name -Password $secure | Out-Null }
        else { New-LocalUser -Name $name -NoPassword | Out-Null }
    } elseif ($secure -and $set_password) {
        Set-LocalUser -Name $name -Password $secure
    }
    if ($null -ne $full_name) { Set-LocalUser -Name $name -FullName $full_name }
    if ($null -ne $description) { Set-LocalUser -Name $name -Description $description }
    if ($enabled -eq $true) { Enable-LocalUser -Name $name }
    if ($enabled -eq $false) { Disable-LocalUser -Name $name }
    if ($unlock) {
        $adsi = [ADSI]"WinNT://./$name,user"
        if ($adsi.IsAccountLocked) { $adsi.IsAccountLocked = $false; $adsi.SetInfo() }
    }
}

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
