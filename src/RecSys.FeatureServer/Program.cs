using RecSys.Core.Contracts;
using RecSys.FeatureServer.Apis;
using RecSys.FeatureServer.Extensions;
using RecSys.FeatureStore.OfflineStore;
using RecSys.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.ConfigureHttpJsonOptions(o => JsonDefaults.Apply(o.SerializerOptions));
builder.AddFeatureServer();
builder.AddOfflineStore();
builder.Services.AddOpenApi();

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.MapOpenApi();
app.MapDefaultEndpoints();
app.MapIngestApi();
app.MapFeaturesApi();
app.MapOfflineStoreApi();
app.MapExportApi();
app.Run();

public partial class Program;
