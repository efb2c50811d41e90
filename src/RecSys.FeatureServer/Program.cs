using RecSys.Core.Contracts;
using RecSys.FeatureServer.Apis;
using RecSys.FeatureServer.Extensions;
using RecSys.FeatureStore.OfflineStore;
using RecSys.ServiceDefaults;
using RecSys.ServiceDefaults.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddRecSysSecurity();
builder.Services.ConfigureHttpJsonOptions(o => JsonDefaults.Apply(o.SerializerOptions));
builder.AddFeatureServer();
builder.AddOfflineStore();
builder.Services.AddOpenApi();

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.UseRecSysSecurity();

// The API description is public: it lists routes and shapes, never data.
app.MapOpenApi().AllowAnonymous();
app.MapDefaultEndpoints();
app.MapIngestApi();
app.MapFeaturesApi();
app.MapOfflineStoreApi();
app.MapUsersApi();
app.MapExportApi();
app.Run();

public partial class Program;
