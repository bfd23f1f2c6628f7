"""Message texts. Documented wordings follow log-formats.md; undocumented ones come in several
seeded variants on purpose, so parsers are forced to match generously."""

from __future__ import annotations

from random import Random

AGENT_V1 = "2.7.41491.1010"
AGENT_V2 = "2.7.41491.1052"
FABRIC = "168.63.129.16"
SETUP = r"E:\approot\bin\setup.cmd"
SLOW_TASK = r"E:\approot\bin\install-payload.cmd"
DIAG = r"E:\plugins\Diagnostics\DiagnosticsAgent.exe"
IISCFG = r"E:\base\x64\IISConfigurator.exe"
CUSTOMER_TASKS = (SETUP, SLOW_TASK)  # the role's own tasks (rolemodule=(null))

# Status details (the portal's parenthesised text).
D_INIT = "Preparing to start role... System is initializing."
D_TASKS = "Waiting for role to start... System startup tasks are running."
D_SITES = "Waiting for role to start... Sites are being deployed."
D_START_WEB = "Starting role... Sites were deployed."
D_START_WORKER = "Starting role... Role host is starting."
D_STOPPED_WEB = "Role has encountered an error and has stopped. Sites were deployed."
D_STOPPED_WORKER = "Role has encountered an error and has stopped."
D_BUSY = "Role instance reported Busy through StatusCheck."
D_STOPPING = "Role is being stopped by the platform."
D_CONFIG = "Applying a new configuration; the role will be restarted."


def pick(rng: Random, *variants: str) -> str:
    """One of the variants, chosen by the seeded generator."""
    return variants[int(rng.random() * len(variants))]


REDIRECT = " > log.txt 2> err.txt"  # a customer task's output redirections (§7)


def task_exit(
    rng: Random, cmd: str, code: int, *, published: bool = False, redirect: str = ""
) -> str:
    """The bootstrapper's task-exit line: one of three seeded wordings, or (``published``)
    the published ``Program "<program>" <args><redirections> exited with <n>. Working
    Directory = <dir>`` (log-formats.md §7). The generator is drawn from in both cases."""
    text = pick(
        rng,
        f'Program "{cmd}" exited with {code}.',
        f"Startup task {cmd} exit code = {code}",
        f'Process "{cmd}" exited with exit code {code}',
    )
    if not published:
        return text
    program, sep, args = cmd.partition(" /")
    line = f'"{program}"' + (f" /{args}" if sep else "") + redirect
    return f"Program {line} exited with {code}. Working Directory = {program.rsplit(chr(92), 1)[0]}"


def task_start(typ: int, module: str, cmd: str, redirect: str = "") -> tuple[str, str]:
    """The bootstrapper's two lines for a startup task: the task, then its process launch.

    With ``redirect`` (an older bootstrapper, log-formats.md §7) there is no ``rolemodule=``
    and the command line keeps its redirections in both lines."""
    if redirect or module == "":
        return (
            f'Executing Startup Task type={typ} cmd="{cmd}"{redirect}',
            f'Executing "{cmd}"{redirect}.',
        )
    return (
        f'Executing Startup Task type={typ} rolemodule={module} cmd="{cmd}"',
        f'Executing "{cmd}" .',
    )


def host_start(rng: Random, exe: str, pid: int) -> str:
    return pick(
        rng,
        f"Starting host process E:\\base\\x64\\{exe}.",
        f"Launching client {exe} with pid {pid}",
    )


def host_exit(rng: Random, exe: str, pid: int, code: int) -> str:
    return pick(
        rng,
        f"Client process {pid} exited with exit code {code}.",
        f"Process {exe} ({pid}) exited with code {code}",
    )


def task_failed_detail(cmd: str, code: int, when: str) -> str:
    """Portal/agent detail of a failed simple startup task."""
    return (
        f'Application startup task "{cmd}" failed with exit code {code}. The role will be '
        f"restarted. Last exit time: {when}. Last exit code: {code}. Last startup task error: "
        f'name - "{cmd}" , exit code - {code}.'
    )


def crash_detail(summary: str, frame: str, when: str, code: int) -> str:
    """Portal/agent detail of a crash in the role entry point."""
    return (
        f"Unhandled Exception: {summary} at {frame} Last exit time: {when}. Last exit code: {code}."
    )


def stack(*frames: str) -> list[str]:
    return [f"   at {f}" for f in frames]


_BRIDGE = "Microsoft.WindowsAzure.ServiceRuntime.Implementation.Loader.RoleRuntimeBridge"
_ENTRY = "Role entrypoint could not be created: System.TypeLoadException: Unable to load the role entry point due to the following exceptions: -- "  # noqa: E501

#: (summary in the header line, inner exception line, extra) per assembly-load failure.
LOAD_FAILURES = {
    "missing_assembly": (
        "System.IO.FileNotFoundException: Could not load file or assembly 'Newtonsoft.Json, "
        "Version=12.0.0.0, Culture=neutral, PublicKeyToken=30ad4fe6b2a6aeed' or one of its "
        "dependencies. The system cannot find the file specified."
    ),
    "version_mismatch": (
        "System.IO.FileLoadException: Could not load file or assembly 'Microsoft.WindowsAzure."
        "Storage, Version=9.3.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35' or one of its "
        "dependencies. The located assembly's manifest definition does not match the assembly "
        "reference. (Exception from HRESULT: 0x80131040)"
    ),
    "bad_format": (
        "System.BadImageFormatException: Could not load file or assembly 'NativeInterop, "
        "Version=1.0.0.0, Culture=neutral, PublicKeyToken=null' or one of its dependencies. An "
        "attempt was made to load a program with an incorrect format. (Exception from HRESULT: "
        "0x8007000B)"
    ),
}


def entrypoint_failure(kind: str) -> tuple[str, list[str]]:
    """Host-log record of a role entry point that could not be created (S06/S07/S08)."""
    inner = LOAD_FAILURES[kind]
    cont = [
        f" ---> {inner}",
        *stack(
            "System.Reflection.RuntimeAssembly.GetExportedTypes(RuntimeAssembly assembly, "
            "ObjectHandleOnStack retTypes)",
            "System.Reflection.RuntimeAssembly.GetExportedTypes()",
            f"{_BRIDGE}.GetRoleEntryPoint(Assembly entryPointAssembly)",
        ),
        "   --- End of inner exception stack trace ---",
        *stack(
            f"{_BRIDGE}.GetRoleEntryPoint(Assembly entryPointAssembly)",
            f"{_BRIDGE}.InitializeRoleInternal(RoleType roleTypeEnum)",
        ),
    ]
    return _ENTRY + inner, cont


def entrypoint_event_log(kind: str) -> tuple[str, list[str]]:
    """The same failure in its event-log / emulator console form (log-formats.md §7): no
    ``Role entrypoint could not be created:`` prefix, then the fusion bind log."""
    inner = LOAD_FAILURES[kind]
    name = inner.split("assembly '", 1)[1].split("'", 1)[0]
    hr = inner.rsplit("HRESULT: ", 1)[1].rstrip(")") if "HRESULT: " in inner else "0x80070002"
    cont = [
        f"-- {inner}",
        "",
        "=== Pre-bind state information ===",
        f"LOG: DisplayName = {name}",
        " (Fully-specified)",
        "LOG: Appbase = file:///E:/approot/bin",
        "LOG: Initial PrivatePath = E:\\approot\\bin",
        "===",
        "LOG: This bind starts in default load context.",
        f"LOG: Attempting download of new URL file:///E:/approot/bin/{name.split(',')[0]}.DLL.",
    ]
    if hr == "0x80131040":
        cont.append("WRN: Comparing the assembly name resulted in the mismatch: Major Version")
    cont.append(f"ERR: Failed to complete setup of assembly (hr = {hr}). Probing terminated.")
    return _ENTRY.split(": ", 1)[1].removesuffix(" -- "), cont


def onstart_crash(role: str, iid: str, kind: str) -> tuple[str, list[str], str, str]:
    """(header, continuation, exception type, top frame) of an OnStart crash (S09/S10)."""
    frames: tuple[str, ...]
    if kind == "disk_full":
        exc = "System.IO.IOException"
        text = f"{exc}: There is not enough space on the disk."
        frames = (
            "System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)",
            "System.IO.FileStream.WriteCore(Byte[] buffer, Int32 offset, Int32 count)",
            f"{role}.CacheWarmer.Download(String name) in C:\\src\\{role}\\CacheWarmer.cs:line 87",
            f"{role}.WorkerRole.OnStart() in C:\\src\\{role}\\WorkerRole.cs:line 31",
        )
    else:
        exc = "System.InvalidOperationException"
        text = (
            f"{exc}: The setting 'Microsoft.WindowsAzure.Plugins.Diagnostics.ConnectionString' is "
            "'UseDevelopmentStorage=true', which cannot be used outside the storage emulator."
        )
        frames = (
            f"{role}.WebRole.ConfigureDiagnostics() in C:\\src\\{role}\\WebRole.cs:line 42",
            f"{role}.WebRole.OnStart() in C:\\src\\{role}\\WebRole.cs:line 18",
            "Microsoft.WindowsAzure.ServiceRuntime.RoleEnvironment.InitializeRoleInternal(RoleType)",
        )
    cont = [f"Exception: {text}", *stack(*frames)]
    return f"AppDomain Unhandled Exception for role {iid}", cont, exc, frames[-2]


def disk_full_write(role: str, dep: str) -> tuple[str, list[str]]:
    """A failing write in the role before the crash (S10)."""
    path = f"C:\\Resources\\temp\\{dep}.{role}\\RoleTemp\\cache\\blob-0042.tmp"
    msg = f"Failed to write {path}: System.IO.IOException: There is not enough space on the disk."
    return msg, stack(
        "System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)",
        "System.IO.FileStream.Write(Byte[] array, Int32 offset, Int32 count)",
    )


def get_versions_503() -> tuple[str, list[str]]:
    return (
        "GetVersions() failed with exception: System.Net.WebException: The remote server "
        "returned an error: (503) Server Unavailable.",
        stack(
            "System.Net.HttpWebRequest.GetResponse()",
            "Microsoft.WindowsAzure.GuestAgent.Protocol.WireServerClient.GetVersions()",
        ),
    )


def hostga_blocked() -> tuple[str, list[str]]:
    return (
        "(Ignoring) Exception while fetching supported versions from HostGAPlugin: "
        "System.Net.WebException: Unable to connect to the remote server",
        [
            " ---> System.Net.Sockets.SocketException: A connection attempt failed because the "
            "connected party did not properly respond after a period of time, or established "
            f"connection failed because connected host has failed to respond {FABRIC}:32526",
            *stack("System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress)"),
            "   --- End of inner exception stack trace ---",
            *stack("System.Net.HttpWebRequest.GetResponse()"),
        ],
    )


def cert_failure() -> tuple[str, list[str]]:
    return (
        "Installing certificates in the LocalMachine store failed: "
        "Microsoft.WindowsAzure.GuestAgent.Security.CertificateException: PFXImportCertStore "
        "failed. Error Code: 86",
        stack(
            "Microsoft.WindowsAzure.GuestAgent.Security.CertificateManager.ImportPfx(Byte[] pfx)",
            "Microsoft.WindowsAzure.GuestAgent.ContainerStateMachine.InstallCertificates()",
        ),
    )


def stuck_stop() -> tuple[str, list[str]]:
    return (
        "WindowsAzureGuestAgent could not be stopped. Exception: System.TimeoutException: "
        "The service did not respond to the stop request in a timely fashion.",
        stack("System.ServiceProcess.ServiceController.WaitForStatus(ServiceControllerStatus)"),
    )


def container_locked(dll: str) -> tuple[str, list[str]]:
    return (
        f"Failed to start container: System.IO.IOException: The process cannot access the file "
        f"'{dll}' because it is being used by another process.",
        stack(
            "System.IO.__Error.WinIOError(Int32 errorCode, String maybeFullPath)",
            "System.IO.Directory.DeleteHelper(String fullPath, String userPath, Boolean recursive)",
            "Microsoft.WindowsAzure.GuestAgent.ContainerStateMachine.CleanupRoleDirectories()",
            "Microsoft.WindowsAzure.GuestAgent.ContainerStateMachine.StartContainer()",
        ),
    )


def iis_cert_error() -> tuple[str, list[str]]:
    return (
        "System.Runtime.InteropServices.COMException (0x80070520): A specified logon session does "
        "not exist. It may already have been terminated. (Exception from HRESULT: 0x80070520)",
        stack(
            "Microsoft.Web.Administration.Interop.IAppHostElement.SetMetadata(String, Object)",
            "Microsoft.Web.Administration.Binding.AddSslCertificate(Byte[] hash, String store)",
            "Microsoft.WindowsAzure.ServiceRuntime.IISConfigurator.WasManager.AddBindings(Site)",
        ),
    )


def goal_state_json(dep: str, iid: str, version: int, thumb: str) -> list[str]:
    """A JSON blob spanning lines after its header line (AppAgentRuntime.log)."""
    return [
        "{",
        f'  "incarnation": {version},',
        f'  "deploymentId": "{dep}",',
        f'  "roleInstance": "{dep}.{iid}",',
        '  "expectedState": "Started",',
        f'  "configurationVersion": {version},',
        '  "certificates": [',
        f'    {{ "thumbprint": "{thumb}", "store": "My", "hasPrivateKey": true }}',
        "  ]",
        "}",
    ]


def config_xml(dep: str, role: str, iid: str, version: int, settings: dict[str, str]) -> str:
    """The small role configuration file written to C:\\Config."""
    rows = "".join(f'      <Setting name="{k}" value="{v}" />\r\n' for k, v in settings.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        f'<RoleInstanceConfiguration deploymentId="{dep}" roleName="{role}" instanceId="{iid}" '
        f'configurationVersion="{version}">\r\n'
        "  <Role>\r\n    <ConfigurationSettings>\r\n"
        f"{rows}"
        "    </ConfigurationSettings>\r\n  </Role>\r\n</RoleInstanceConfiguration>\r\n"
    )
