/**
 * A static export: no server runtime. Every route is a folder with its own index.html
 * (`trailingSlash`), which S3 + CloudFront and `make dev` serve as files; a run's id travels in
 * the query string (`/runs/detail/?id=…`), so any run opens from any host without rewrites.
 * @type {import('next').NextConfig}
 */
const nextConfig = {
  output: "export",
  trailingSlash: true,
  reactStrictMode: true,
  images: { unoptimized: true },
  eslint: { ignoreDuringBuilds: true },
  typedRoutes: false,
};

export default nextConfig;
