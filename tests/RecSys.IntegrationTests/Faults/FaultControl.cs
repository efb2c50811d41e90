using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.Sockets;
using RecSys.Core.Contracts;

namespace RecSys.IntegrationTests.Faults;

/// <summary>
/// What the fault tests do to the running AppHost: signal a service's own process (kill, freeze, resume), found under the
/// process DCP started for the resource (a <c>dotnet run</c> whose child is the service), and start resources again through
/// Aspire's command. (Aspire's stop command is not used: on a loaded machine it gave up waiting and left the resource
/// "Unknown".)
/// </summary>
internal sealed class FaultControl(AppHostFixture fixture)
{
    public static readonly TimeSpan RestartTimeout = TimeSpan.FromMinutes(2);

    private DistributedApplication App => fixture.App;

    /// <summary>Kills the service's own process (SIGKILL) and waits until the resource has exited.</summary>
    public async Task KillAsync(string resource, string assemblyName)
    {
        Signal(ServiceProcessId(resource, assemblyName), "KILL");
        await WaitStoppedAsync(resource, RestartTimeout);
    }

    /// <summary>Starts a stopped or exited resource (if it is not running already) and waits until its health checks pass.</summary>
    public async Task StartAndWaitHealthyAsync(string resource)
    {
        if (!App.ResourceNotifications.TryGetCurrentState(resource, out var e) || e.Snapshot.State?.Text != KnownResourceStates.Running)
        {
            // As with stop, the command's answer may be a timeout while the start goes on: the health wait decides.
            await App.ResourceCommands.ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand);
        }

        await WaitHealthyAsync(resource);
    }

    public async Task WaitHealthyAsync(string resource)
    {
        using var cts = new CancellationTokenSource(RestartTimeout);
        try
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cts.Token);
        }
        catch (OperationCanceledException ex)
        {
            throw new TimeoutException($"{resource} did not become healthy within {RestartTimeout}. Last log lines:\n{fixture.LogTail(80)}", ex);
        }
    }

    /// <summary>Waits for the resource to stop running (Exited, Finished or FailedToStart) and returns its state.</summary>
    public async Task<string> WaitStoppedAsync(string resource, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var e = await App.ResourceNotifications.WaitForResourceAsync(
            resource,
            e => e.Snapshot.State?.Text is { } s && IsStopped(s),
            cts.Token);
        return e.Snapshot.State!.Text;
    }

    public static bool IsStopped(string state) =>
        state == KnownResourceStates.Exited || state == KnownResourceStates.Finished || state == KnownResourceStates.FailedToStart;

    /// <summary>The process of the service itself (not the <c>dotnet run</c> launcher), by its assembly name.</summary>
    public int ServiceProcessId(string resource, string assemblyName)
    {
        Assert.True(App.ResourceNotifications.TryGetCurrentState(resource, out var e), $"{resource} has no state");
        var pidText = e!.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value?.ToString();
        Assert.True(int.TryParse(pidText, out var root), $"{resource} reports no process id ({pidText})");
        var found = Descendants(root).Prepend(root).FirstOrDefault(pid => IsService(pid, assemblyName));
        Assert.True(found != 0, $"No process of {assemblyName} under process {root}");
        return found;
    }

    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>True when a TCP connection to the port is refused (nothing listens).</summary>
    public static async Task<bool> RefusesAsync(int port)
    {
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(5));
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    /// <summary>
    /// A client with no resilience handler of its own (the testing builder's default one retries 5xx, which would hide
    /// them): every status the service answers is seen as it is.
    /// </summary>
    public HttpClient RawClient(string resource, string apiKey)
    {
        var client = new HttpClient { BaseAddress = App.GetEndpoint(resource, "http"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return client;
    }

    /// <summary>An item counter as the FeatureServer reads it from the online store (0 when the store has none).</summary>
    public async Task<double> ItemCounterAsync(string itemId, string feature)
    {
        var response = await fixture.FeatureServer.GetFromJsonAsync<OnlineFeaturesResponse>(
            $"/v1/features/online?entities=item:{itemId}&features={feature}", JsonDefaults.Options);
        var value = response!.Entities.Single().Features[feature];
        return value.IsDefault ? 0 : value.Number ?? 0;
    }

    public async Task<FeatureServerStatus> StatusAsync() =>
        (await fixture.FeatureServer.GetFromJsonAsync<FeatureServerStatus>("/v1/status", JsonDefaults.Options))!;

    private static bool IsService(int pid, string assemblyName)
    {
        try
        {
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            return args.Any(a => Path.GetFileName(a) is var f && (f == assemblyName || f == assemblyName + ".dll"));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static IEnumerable<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ppid = int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
                if (!children.TryGetValue(ppid, out var list))
                {
                    children[ppid] = list = [];
                }

                list.Add(pid);
            }
            catch (IOException)
            {
                // The process ended while the table was read.
            }
        }

        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            if (children.TryGetValue(queue.Dequeue(), out var list))
            {
                foreach (var child in list)
                {
                    yield return child;
                    queue.Enqueue(child);
                }
            }
        }
    }
}
