using Microsoft.Extensions.Configuration;
using System.Diagnostics;

namespace RecSys.AppHost;

/// <summary>Where the backing services come from.</summary>
internal enum InfrastructureMode
{
    /// <summary>Everything in-process or as .NET projects: Garnet, FasterLog, in-process index shards. Needs only the .NET SDK.</summary>
    Embedded,

    /// <summary>Redis, Kafka (KRaft) and Qdrant as containers; needs a container runtime.</summary>
    Containers,
}

internal static class InfrastructureModes
{
    public const string ConfigurationKey = "RecSys:Infrastructure";

    /// <summary>
    /// Reads <c>RecSys:Infrastructure</c> (embedded | containers). When it is absent, containers are chosen only if a
    /// container runtime answers, because a container resource without a runtime never becomes healthy.
    /// </summary>
    public static InfrastructureMode Resolve(IConfiguration configuration, Func<bool>? containerRuntimeAnswers = null)
    {
        var value = configuration[ConfigurationKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            return (containerRuntimeAnswers ?? ContainerRuntimeAnswers)() ? InfrastructureMode.Containers : InfrastructureMode.Embedded;
        }

        return Enum.TryParse<InfrastructureMode>(value, ignoreCase: true, out var mode) && Enum.IsDefined(mode)
            ? mode
            : throw new InvalidOperationException($"{ConfigurationKey} must be 'embedded' or 'containers', not '{value}'.");
    }

    /// <summary>True when <c>docker info</c> (or <c>podman info</c>) succeeds within a few seconds.</summary>
    public static bool ContainerRuntimeAnswers()
    {
        foreach (var runtime in new[] { "docker", "podman" })
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(runtime, "info")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                });
                if (process is null)
                {
                    continue;
                }

                process.StandardOutput.ReadToEndAsync();
                process.StandardError.ReadToEndAsync();
                if (process.WaitForExit(TimeSpan.FromSeconds(5)) && process.ExitCode == 0)
                {
                    return true;
                }

                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // The runtime's client is not installed: try the next one.
            }
        }

        return false;
    }
}
