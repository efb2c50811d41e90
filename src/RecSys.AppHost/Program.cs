var builder = DistributedApplication.CreateBuilder(args);
builder.AddProject<Projects.RecSys_OnlineStore>("online-store-host");
builder.Build().Run();
