import type { Metadata } from "next";
import type { ReactNode } from "react";

import { Chrome } from "@/components/Chrome";
import { SessionProvider } from "@/components/SessionProvider";

import "./globals.css";

export const metadata: Metadata = {
  title: "Flightdeck",
  description: "Your automations: what they were worth, every run, every approval.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <SessionProvider>
          <Chrome>{children}</Chrome>
        </SessionProvider>
      </body>
    </html>
  );
}
