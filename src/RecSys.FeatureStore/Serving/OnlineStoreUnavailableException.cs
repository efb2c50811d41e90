using StackExchange.Redis;

namespace RecSys.FeatureStore.Serving;

/// <summary>
/// The online store could not answer a read (refused, reset or timed out). Serving code catches this one type, never the
/// client library's exceptions: which client talks to the store is this library's business.
/// </summary>
public sealed class OnlineStoreUnavailableException(string message, Exception innerException) : Exception(message, innerException)
{
    /// <summary>True for the failures of the store or the connection to it (not for bugs such as a wrong argument).</summary>
    public static bool IsStoreFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException;

    /// <summary>
    /// Runs a read and turns a store failure, whether the client refuses the command at once or it fails later, into
    /// <see cref="OnlineStoreUnavailableException"/>.
    /// </summary>
    internal static async Task<T> Guard<T>(Func<Task<T>> read, string what)
    {
        try
        {
            return await read().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw new OnlineStoreUnavailableException($"The online store could not be read ({what}): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Sends a pipelined batch and awaits its commands (<paramref name="completion"/>); a store failure, whether the client
    /// refuses the send at once or a command fails later, becomes <see cref="OnlineStoreUnavailableException"/>.
    /// </summary>
    internal static async Task Execute(IBatch batch, Func<Task> completion, string what)
    {
        try
        {
            batch.Execute();
            await completion().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw new OnlineStoreUnavailableException($"The online store did not answer ({what}): {ex.Message}", ex);
        }
    }

    /// <summary>Runs commands and turns a store failure into <see cref="OnlineStoreUnavailableException"/>.</summary>
    internal static async Task Guard(Func<Task> commands, string what)
    {
        try
        {
            await commands().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw new OnlineStoreUnavailableException($"The online store did not answer ({what}): {ex.Message}", ex);
        }
    }
}
