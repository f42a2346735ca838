using System.Threading;
using System.Threading.Tasks;

namespace StateGen.Security;

/// <summary>Loads the encryption keys: from options, configuration, environment variables, a key file, or a secret store of your own.</summary>
public interface IStateKeyProvider
{
    /// <summary>Loads the keys into a new ring, which the caller owns and disposes.</summary>
    /// <exception cref="StateKeyConfigurationException">The keys are missing or malformed; the message names the source, never a key.</exception>
    ValueTask<StateKeyRing> GetKeyRingAsync(CancellationToken cancellationToken = default);
}
