<#
.SYNOPSIS
    Removes vsc-bridge of the current user: stops it, removes its shortcuts and its program
    directory.

.DESCRIPTION
    The pairings (%APPDATA%\VSC\vsc-bridge) and the log (%LOCALAPPDATA%\VSC\vsc-bridge) stay
    unless -RemoveData is given. The system-wide configuration
    (%ProgramData%\VSC\vsc-bridge\config.toml) is left for the administrator, who removes it
    once no user of the PC needs the bridge.

.PARAMETER RemoveData
    Also removes this user's pairings and log (pages must pair again after a new install).

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File "$env:LOCALAPPDATA\Programs\VSC Bridge\uninstall.ps1"
#>
[CmdletBinding()]
param(
    [switch] $RemoveData
)
$ErrorActionPreference = 'Stop'

$installDir = Join-Path $env:LOCALAPPDATA 'Programs\VSC Bridge'
$exe = Join-Path $installDir 'vsc-bridge.exe'

Get-Process -Name 'vsc-bridge' -ErrorAction SilentlyContinue |
    Where-Object { $_.Path -eq $exe } |
    ForEach-Object { Stop-Process -Id $_.Id -Force; $_.WaitForExit(5000) | Out-Null }
Write-Host 'stopped vsc-bridge'

foreach ($folder in 'Startup', 'Programs') {
    $link = Join-Path ([Environment]::GetFolderPath($folder)) 'VSC Bridge.lnk'
    if (Test-Path $link) { Remove-Item -Force $link }
}
Write-Host 'removed the shortcuts (no more start at logon)'

if (Test-Path $installDir) { Remove-Item -Recurse -Force $installDir }
Write-Host "removed $installDir"

if ($RemoveData) {
    foreach ($dir in (Join-Path $env:APPDATA 'VSC\vsc-bridge'), (Join-Path $env:LOCALAPPDATA 'VSC\vsc-bridge')) {
        if (Test-Path $dir) { Remove-Item -Recurse -Force $dir; Write-Host "removed $dir" }
    }
} else {
    Write-Host "kept the pairings ($env:APPDATA\VSC\vsc-bridge) and the log ($env:LOCALAPPDATA\VSC\vsc-bridge); -RemoveData removes them"
}
