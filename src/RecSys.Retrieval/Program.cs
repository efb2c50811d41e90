using RecSys.Core.Contracts;
using RecSys.FeatureStore.Serving;
using RecSys.Retrieval.Apis;
using RecSys.Retrieval.Extensions;
using RecSys.Retrieval.VectorIndex;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRecSysSecurity();
builder.Services.ConfigureHttpJsonOptions(o => JsonDefaults.Apply(o.SerializerOptions));
// Without the store the index still answers (item vectors are in process) and sources degrade one by one; the service is
// degraded, not dead, so orchestrators should not restart it for the store's outage.
builder.AddOnlineStoreClient(storeDownStatus: Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded);
builder.AddRetrieval();
builder.AddVectorIndex();
builder.Services.AddOpenApi();

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.UseRecSysSecurity();

// The API description is public: it lists routes and shapes, never data.
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();
app.MapCandidatesApi();
app.MapVectorIndexApi();
app.MapEmbeddingsApi();
app.MapFaultInjectionApi();
app.Run();

/// <summary>Visible to <c>WebApplicationFactory&lt;Program&gt;</c> in tests.</summary>
public partial class Program;
