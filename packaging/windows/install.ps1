<#
.SYNOPSIS
    Installs vsc-bridge for the current user and starts it at every logon.

.DESCRIPTION
    Copies vsc-bridge.exe to %LOCALAPPDATA%\Programs\VSC Bridge, puts a shortcut in the user's
    Startup folder (the bridge starts minimized at logon; its console window shows pairing
    codes) and one in the Start menu, installs the configuration file at
    %ProgramData%\VSC\vsc-bridge\config.toml unless one is there already (an administrator's is
    left alone), starts the bridge and runs "vsc-bridge doctor". No administrator rights are
    needed. Running it again updates an installation (the running bridge is stopped first).

.PARAMETER AllowOrigin
    The issuer's page origin(s) to allow, e.g. https://cards.issuer.example. Written into a new
    configuration file; ignored when one exists already (edit that file instead).

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File install.ps1 -AllowOrigin https://cards.issuer.example
#>
[CmdletBinding()]
param(
    [string[]] $AllowOrigin = @()
)
$ErrorActionPreference = 'Stop'

$source = Split-Path -Parent $MyInvocation.MyCommand.Path
$installDir = Join-Path $env:LOCALAPPDATA 'Programs\VSC Bridge'
$exe = Join-Path $installDir 'vsc-bridge.exe'
$logDir = Join-Path $env:LOCALAPPDATA 'VSC\vsc-bridge'
$log = Join-Path $logDir 'bridge.log'
$configDir = Join-Path $env:ProgramData 'VSC\vsc-bridge'
$config = Join-Path $configDir 'config.toml'
$arguments = "--log-file `"$log`""

# An update: stop the bridge this script started before (only that executable).
Get-Process -Name 'vsc-bridge' -ErrorAction SilentlyContinue |
    Where-Object { $_.Path -eq $exe } |
    ForEach-Object { Stop-Process -Id $_.Id -Force; $_.WaitForExit(5000) | Out-Null }

New-Item -ItemType Directory -Force -Path $installDir, $logDir | Out-Null
foreach ($file in 'vsc-bridge.exe', 'uninstall.ps1', 'config.toml', 'README.txt') {
    Copy-Item -Path (Join-Path $source $file) -Destination $installDir -Force
}
Write-Host "installed $exe"

if (Test-Path $config) {
    Write-Host "keeping the existing configuration $config"
    if ($AllowOrigin.Count -gt 0) {
        Write-Warning "-AllowOrigin is ignored: set allow_origins in $config instead"
    }
} else {
    $text = Get-Content -Raw -Path (Join-Path $source 'config.toml')
    if ($AllowOrigin.Count -gt 0) {
        $list = ($AllowOrigin | ForEach-Object { '"' + $_ + '"' }) -join ', '
        $text = $text -replace '(?m)^# allow_origins = .*$', "allow_origins = [$list]"
    }
    try {
        New-Item -ItemType Directory -Force -Path $configDir | Out-Null
        # UTF-8 without a byte order mark.
        [System.IO.File]::WriteAllText($config, $text)
        Write-Host "wrote the configuration $config"
    } catch {
        Write-Warning ("cannot write $config ($($_.Exception.Message)): ask an administrator " +
            "to put the configuration there, or pass --allow-origin in the shortcuts")
    }
}

$shell = New-Object -ComObject WScript.Shell
$shortcuts = @(
    @{ Path = Join-Path ([Environment]::GetFolderPath('Startup')) 'VSC Bridge.lnk'; Style = 7 },
    @{ Path = Join-Path ([Environment]::GetFolderPath('Programs')) 'VSC Bridge.lnk'; Style = 1 }
)
foreach ($s in $shortcuts) {
    $link = $shell.CreateShortcut($s.Path)
    $link.TargetPath = $exe
    $link.Arguments = $arguments
    $link.WorkingDirectory = $installDir
    $link.WindowStyle = $s.Style # 7: minimized, 1: normal
    $link.Description = 'VSC bridge: card readers for the VSC personalization page'
    $link.Save()
}
Write-Host 'vsc-bridge starts at every logon (Startup folder) and from the Start menu'

Start-Process -FilePath $exe -ArgumentList $arguments -WorkingDirectory $installDir -WindowStyle Minimized
Write-Host 'started vsc-bridge (minimized; its window shows the pairing codes)'
Start-Sleep -Seconds 2
& $exe doctor
if ($LASTEXITCODE -ne 0) {
    Write-Warning 'vsc-bridge doctor found something to fix (see "to fix" above)'
}
