"use client";

import { usePathname } from "next/navigation";
import type { ReactNode } from "react";

import { Nav } from "@/components/Nav";

/** The navigation bar around every signed-in page. */
export function Chrome({ children }: { children: ReactNode }) {
  const pathname = usePathname() ?? "/";
  if (pathname.startsWith("/signin")) return <main className="signin-main">{children}</main>;
  return (
    <>
      <Nav />
      <main className="page">{children}</main>
    </>
  );
}
